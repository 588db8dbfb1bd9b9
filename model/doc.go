// Package model describes Madry et al.'s networks once, as graphs of layer
// operations bound to TensorFlow checkpoint variable names, and holds a
// graph's variables. The executors in engine/ compute a Graph; this package
// knows nothing of execution, and package tfckpt knows the file format.
//
// MNISTCNN and WideResNet return a Graph; NewModel gives it zero-valued
// variables and LoadModel reads them from a checkpoint (a prefix, its .index
// file, or a directory whose "checkpoint" state file names one):
//
//	g := model.WideResNet(model.DefaultWideResNet)
//	m, err := model.LoadModel(g, "models/adv_trained")
//
// Loading checks every value: a checkpoint whose weights hold NaN or Inf
// still loads, but LoadModel and Load return, with the loaded model, an
// error wrapping ErrNonFinite that names each variable and its counts (a
// *NonFiniteError); CheckFinite gives the same report for any model.
//
// Save writes a model's variables as a checkpoint that TensorFlow's Saver
// restores into the graph MadryLab's model.py builds; Fit checks an existing
// checkpoint against a graph.
//
// A Model is not safe for concurrent use.
package model

// Package train trains Madry et al.'s MNIST CNN, naturally or with PGD
// adversarial training, through the engine.Executor interface, and writes
// the result as a TensorFlow checkpoint with Madry's variable names
// (Variable … Variable_7) and a model card.
//
// # Use
//
//	c, err := train.Load("configs/train-mnist-adv.toml", nil)
//	card, err := train.Run(ctx, c, train.Env{NewExecutor: newExec})
//
// The runner dispatches a config whose experiment key is "train" here
// (train.IsConfig) and supplies the executor: train never imports an engine.
//
// # Recipe
//
// Minibatch training with Adam (default; TensorFlow's update and defaults)
// or SGD with momentum on the mean cross-entropy. Every epoch is a fresh
// shuffle drawn from the seed and the epoch (dataset.Sample), so that step s
// always sees the same minibatch; the last partial batch is dropped. With
// adversarial.method = "pgd" each minibatch is replaced by its PGD
// adversarial examples (attack.PGD, cross-entropy ascent, last iterate,
// random start seeded by the seed and the example's position in the run)
// and the step trains on those only, as Madry et al. do. Madry's MNIST
// recipe is ε = 0.3, 40 steps of 0.01, random start, Adam 1e-4, batch 50,
// 100,000 steps; the shipped configs choose a cheaper schedule (see
// configs/train-mnist-adv.toml).
//
// Initialization: weights He-normal from the seed (model.Model.InitRandom;
// Madry draws a truncated normal with std 0.1), biases 0.1 as in Madry's
// model.py.
//
// # Output directory
//
//	checkpoint-STEP.{index,data-00000-of-00001}    periodic model bundles
//	optimizer-STEP.{index,data-00000-of-00001}     global_step and the slots
//	                                               (Variable/Adam, Variable/Adam_1
//	                                               or Variable/Momentum)
//	train-state.json                               step, fingerprint, time: the commit point
//	checkpoint                                     TensorFlow's state file
//	checkpoint.{index,data-00000-of-00001}         the final model (FinalPrefix)
//	CARD.md, card.json                             the model card
//
// A checkpoint is written every train.checkpoint_every steps and when the
// run is canceled; rerunning the same command resumes from the last one and
// produces bit-identical weights to an uninterrupted run on the same
// executor. The periodic checkpoints are removed once the final model is
// saved. A run fails fast, writing nothing, when a minibatch's loss is NaN
// or Inf.
//
// # Evaluation
//
// The card reports clean accuracy on the first eval.points test images and
// PGD accuracy (default PGD-40, step 0.01, random start, ε = 0.1, 0.2, 0.3)
// on the first eval.pgd_points, measured with the training executor.
package train

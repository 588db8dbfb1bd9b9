// Package dataset loads the image data sets the experiments attack (MNIST
// and CIFAR-10) into memory as NHWC float32 on the [0,1] pixel scale, and
// draws reproducible samples of them.
package dataset

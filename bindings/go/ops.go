package tinydl

/*
#include <stdlib.h>
#include <tiny-dl/tiny-dl.h>
*/
import "C"

import "unsafe"

// Builders of ops.h, conv.h and layers.h. Each returns the new node, or nil
// with the graph's sticky error set (see Graph.Err and Graph.Compile).

// named runs a builder with a C copy of name ("" gives NULL: an automatic name).
func (g *Graph) named(name string, args []*Node, f func(r *C.tdl_graph, c *C.char) *C.tdl_node) *Node {
	if g == nil {
		return nil
	}
	var c *C.char
	if name != "" {
		var err error
		if c, err = cstring("name", name); err != nil {
			return g.fail(err)
		}
		defer cfree(c)
	}
	return g.build(args, func(r *C.tdl_graph) *C.tdl_node { return f(r, c) })
}

// Input is a graph input of dtype, fed before each run; one dimension may be Batch.
func (g *Graph) Input(name string, dtype DType, shape ...int64) *Node {
	return g.named(name, nil, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_input(r, c, C.tdl_dtype(dtype), C.int32_t(len(shape)), int64Ptr(shape))
	})
}

// Param is a named float parameter, initialised now from the seed and the name.
func (g *Graph) Param(name string, shape []int64, init Init, a, b float32) *Node {
	if name == "" {
		return g.fail(newError(ErrInvalidArgument, "param: a name is required"))
	}
	return g.named(name, nil, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_param(r, c, C.int32_t(len(shape)), int64Ptr(shape), C.int32_t(init), C.float(a), C.float(b))
	})
}

// Constant is a float constant holding a copy of data ("" name: automatic).
func (g *Graph) Constant(name string, data []float32, shape ...int64) *Node {
	if total, ok := numel(shape); !ok || total != int64(len(data)) || len(data) == 0 {
		return g.fail(newError(ErrShape, "constant: %d values for shape %v", len(data), shape))
	}
	return g.named(name, nil, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_constant(r, c, (*C.float)(unsafe.Pointer(&data[0])), C.int32_t(len(shape)), int64Ptr(shape))
	})
}

func (g *Graph) unary(x *Node, f func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node) *Node {
	if x == nil {
		return g.build([]*Node{x}, nil)
	}
	return g.build([]*Node{x}, func(r *C.tdl_graph) *C.tdl_node { return f(r, x.raw) })
}

func (g *Graph) binary(a, b *Node, f func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node) *Node {
	if a == nil || b == nil {
		return g.build([]*Node{a, b}, nil)
	}
	return g.build([]*Node{a, b}, func(r *C.tdl_graph) *C.tdl_node { return f(r, a.raw, b.raw) })
}

// Add is a + b with broadcasting.
func (g *Graph) Add(a, b *Node) *Node {
	return g.binary(a, b, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_add(r, a, b) })
}

// Sub is a - b with broadcasting.
func (g *Graph) Sub(a, b *Node) *Node {
	return g.binary(a, b, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_sub(r, a, b) })
}

// Mul is a * b (elementwise) with broadcasting.
func (g *Graph) Mul(a, b *Node) *Node {
	return g.binary(a, b, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_mul(r, a, b) })
}

// Div is a / b (elementwise) with broadcasting.
func (g *Graph) Div(a, b *Node) *Node {
	return g.binary(a, b, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_div(r, a, b) })
}

// MatMul is the matrix product (2-D, or batched with a shared 2-D b).
func (g *Graph) MatMul(a, b *Node) *Node {
	return g.binary(a, b, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_matmul(r, a, b) })
}

// MSELoss is the mean of (pred - target)^2.
func (g *Graph) MSELoss(pred, target *Node) *Node {
	return g.binary(pred, target, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node { return C.tdl_mse_loss(r, a, b) })
}

// CrossEntropy is the mean softmax cross-entropy of [B, C] logits and [B] int32 labels.
func (g *Graph) CrossEntropy(logits, labels *Node) *Node {
	return g.binary(logits, labels, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node {
		return C.tdl_cross_entropy(r, a, b)
	})
}

// CrossEntropySmooth is CrossEntropy with label smoothing.
func (g *Graph) CrossEntropySmooth(logits, labels *Node, smoothing float32) *Node {
	return g.binary(logits, labels, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node {
		return C.tdl_cross_entropy_smooth(r, a, b, C.float(smoothing))
	})
}

// BCEWithLogits is the mean binary cross-entropy on logits (float targets in [0, 1]).
func (g *Graph) BCEWithLogits(logits, targets *Node) *Node {
	return g.binary(logits, targets, func(r *C.tdl_graph, a, b *C.tdl_node) *C.tdl_node {
		return C.tdl_bce_with_logits(r, a, b)
	})
}

// AffineScalar is scale * x + shift.
func (g *Graph) AffineScalar(x *Node, scale, shift float32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_affine_scalar(r, x, C.float(scale), C.float(shift))
	})
}

// Reshape gives x a new shape (one entry may be -1).
func (g *Graph) Reshape(x *Node, shape ...int64) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_reshape(r, x, C.int32_t(len(shape)), int64Ptr(shape))
	})
}

// Transpose swaps the last two dimensions.
func (g *Graph) Transpose(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_transpose(r, x) })
}

// Permute reorders dimensions: output dim i is input dim perm[i].
func (g *Graph) Permute(x *Node, perm ...int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_permute(r, x, C.int32_t(len(perm)), int32Ptr(perm))
	})
}

// Concat joins xs along axis.
func (g *Graph) Concat(axis int32, xs ...*Node) *Node {
	ptrs := make([]*C.tdl_node, len(xs)+1) // +1: never empty
	for i, x := range xs {
		if x == nil {
			return g.build([]*Node{nil}, nil)
		}
		ptrs[i] = x.raw
	}
	return g.build(xs, func(r *C.tdl_graph) *C.tdl_node {
		return C.tdl_concat(r, C.int32_t(len(xs)), &ptrs[0], C.int32_t(axis))
	})
}

// Slice keeps elements start..end-1 along axis.
func (g *Graph) Slice(x *Node, axis int32, start, end int64) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_slice(r, x, C.int32_t(axis), C.int64_t(start), C.int64_t(end))
	})
}

// Sum reduces over axes (none: all).
func (g *Graph) Sum(x *Node, keepdims bool, axes ...int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_sum(r, x, C.int32_t(len(axes)), int32Ptr(axes), boolInt(keepdims))
	})
}

// Mean reduces over axes (none: all).
func (g *Graph) Mean(x *Node, keepdims bool, axes ...int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_mean(r, x, C.int32_t(len(axes)), int32Ptr(axes), boolInt(keepdims))
	})
}

// Max reduces over axes (none: all).
func (g *Graph) Max(x *Node, keepdims bool, axes ...int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_max(r, x, C.int32_t(len(axes)), int32Ptr(axes), boolInt(keepdims))
	})
}

// Relu is max(x, 0).
func (g *Graph) Relu(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_relu(r, x) })
}

// LeakyRelu is x for x > 0, slope * x otherwise.
func (g *Graph) LeakyRelu(x *Node, slope float32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_leaky_relu(r, x, C.float(slope)) })
}

// Elu is x for x > 0, alpha * (exp(x) - 1) otherwise.
func (g *Graph) Elu(x *Node, alpha float32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_elu(r, x, C.float(alpha)) })
}

// Sigmoid is 1 / (1 + exp(-x)).
func (g *Graph) Sigmoid(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_sigmoid(r, x) })
}

// Tanh is tanh(x).
func (g *Graph) Tanh(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_tanh(r, x) })
}

// Gelu is x * Phi(x).
func (g *Graph) Gelu(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_gelu(r, x) })
}

// Exp is exp(x).
func (g *Graph) Exp(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_exp(r, x) })
}

// Log is the natural logarithm.
func (g *Graph) Log(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_log(r, x) })
}

// Sqrt is the square root.
func (g *Graph) Sqrt(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_sqrt(r, x) })
}

// Softmax along axis (negative counts from the end).
func (g *Graph) Softmax(x *Node, axis int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_softmax(r, x, C.int32_t(axis)) })
}

// LogSoftmax is log(softmax(x)) along axis.
func (g *Graph) LogSoftmax(x *Node, axis int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_log_softmax(r, x, C.int32_t(axis)) })
}

// Dropout zeroes elements with probability p in training mode.
func (g *Graph) Dropout(x *Node, p float32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_dropout(r, x, C.float(p)) })
}

// StopGradient is the identity with a zero gradient.
func (g *Graph) StopGradient(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_stop_gradient(r, x) })
}

// Dense is a fully connected layer with parameters "<name>.weight" and "<name>.bias".
func (g *Graph) Dense(x *Node, units int64, name string) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_dense(r, x.raw, C.int64_t(units), c)
	})
}

// DenseEx is Dense with a chosen weight initialiser and optional bias.
func (g *Graph) DenseEx(x *Node, units int64, name string, weightInit Init, useBias bool) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_dense_ex(r, x.raw, C.int64_t(units), c, C.int32_t(weightInit), boolInt(useBias))
	})
}

// ---- conv.h ----

func (g *Graph) convArgs(x, w, bias *Node) ([]*Node, *C.tdl_node) {
	args := []*Node{x, w}
	var b *C.tdl_node
	if bias != nil {
		args = append(args, bias)
		b = bias.raw
	}
	return args, b
}

// Conv2D convolves [N, C, H, W] with w [C_out, C_in/groups, kh, kw]; bias may be nil;
// pads may be PadSame.
func (g *Graph) Conv2D(x, w, bias *Node, stride, pad, dilation [2]int32, groups int32) *Node {
	args, b := g.convArgs(x, w, bias)
	return g.build(args, func(r *C.tdl_graph) *C.tdl_node {
		return C.tdl_conv2d(r, x.raw, w.raw, b, C.int32_t(stride[0]), C.int32_t(stride[1]),
			C.int32_t(pad[0]), C.int32_t(pad[1]), C.int32_t(dilation[0]), C.int32_t(dilation[1]), C.int32_t(groups))
	})
}

// ConvTranspose2D is the transposed convolution with w [C_in, C_out/groups, kh, kw].
func (g *Graph) ConvTranspose2D(x, w, bias *Node, stride, pad, outputPad, dilation [2]int32, groups int32) *Node {
	args, b := g.convArgs(x, w, bias)
	return g.build(args, func(r *C.tdl_graph) *C.tdl_node {
		return C.tdl_conv_transpose2d(r, x.raw, w.raw, b, C.int32_t(stride[0]), C.int32_t(stride[1]),
			C.int32_t(pad[0]), C.int32_t(pad[1]), C.int32_t(outputPad[0]), C.int32_t(outputPad[1]),
			C.int32_t(dilation[0]), C.int32_t(dilation[1]), C.int32_t(groups))
	})
}

// Conv1D convolves [N, C_in, L] with w [C_out, C_in/groups, k].
func (g *Graph) Conv1D(x, w, bias *Node, stride, pad, dilation, groups int32) *Node {
	args, b := g.convArgs(x, w, bias)
	return g.build(args, func(r *C.tdl_graph) *C.tdl_node {
		return C.tdl_conv1d(r, x.raw, w.raw, b, C.int32_t(stride), C.int32_t(pad), C.int32_t(dilation), C.int32_t(groups))
	})
}

// Conv2DLayer is a conv2d layer with parameters "<name>.weight" and "<name>.bias".
func (g *Graph) Conv2DLayer(x *Node, outChannels int64, kernel, stride, pad, groups int32, useBias bool, name string) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_conv2d_layer(r, x.raw, C.int64_t(outChannels), C.int32_t(kernel), C.int32_t(stride),
			C.int32_t(pad), C.int32_t(groups), boolInt(useBias), c)
	})
}

// ---- layers.h ----

// MaxPool2D is max pooling of [N, C, H, W].
func (g *Graph) MaxPool2D(x *Node, kernel, stride, pad [2]int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_max_pool2d(r, x, C.int32_t(kernel[0]), C.int32_t(kernel[1]), C.int32_t(stride[0]),
			C.int32_t(stride[1]), C.int32_t(pad[0]), C.int32_t(pad[1]))
	})
}

// AvgPool2D is average pooling of [N, C, H, W] (padding counts).
func (g *Graph) AvgPool2D(x *Node, kernel, stride, pad [2]int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_avg_pool2d(r, x, C.int32_t(kernel[0]), C.int32_t(kernel[1]), C.int32_t(stride[0]),
			C.int32_t(stride[1]), C.int32_t(pad[0]), C.int32_t(pad[1]))
	})
}

// GlobalAvgPool is the mean over every axis after the first two.
func (g *Graph) GlobalAvgPool(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_global_avg_pool(r, x) })
}

// Flatten is [N, ...] -> [N, product of the rest].
func (g *Graph) Flatten(x *Node) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_flatten(r, x) })
}

// UpsampleNearest2D upsamples [N, C, H, W] by integer factors.
func (g *Graph) UpsampleNearest2D(x *Node, scaleH, scaleW int32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_upsample_nearest2d(r, x, C.int32_t(scaleH), C.int32_t(scaleW))
	})
}

// Pad pads with a constant; pads holds before/after for each axis (2 * ndim values).
func (g *Graph) Pad(x *Node, value float32, pads ...int64) *Node {
	if len(pads)%2 != 0 {
		return g.fail(newError(ErrInvalidArgument, "pad: %d pad values (two per axis expected)", len(pads)))
	}
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node {
		return C.tdl_pad(r, x, C.int32_t(len(pads)/2), int64Ptr(pads), C.float(value))
	})
}

// BatchNorm normalises over axis 1 (momentum as PyTorch, e.g. 0.1; eps e.g. 1e-5).
func (g *Graph) BatchNorm(x *Node, name string, momentum, eps float32) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_batch_norm(r, x.raw, c, C.float(momentum), C.float(eps))
	})
}

// LayerNorm normalises over the last nAxes axes.
func (g *Graph) LayerNorm(x *Node, nAxes int32, name string, eps float32) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_layer_norm(r, x.raw, C.int32_t(nAxes), c, C.float(eps))
	})
}

// SpatialDropout zeroes whole channels with probability p in training mode.
func (g *Graph) SpatialDropout(x *Node, p float32) *Node {
	return g.unary(x, func(r *C.tdl_graph, x *C.tdl_node) *C.tdl_node { return C.tdl_spatial_dropout(r, x, C.float(p)) })
}

// SeparableConvBlock is a MobileNet-style depthwise-separable block.
func (g *Graph) SeparableConvBlock(x *Node, outChannels int64, stride int32, name string) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_separable_conv_block(r, x.raw, C.int64_t(outChannels), C.int32_t(stride), c)
	})
}

// ResidualBlock is a ResNet basic block.
func (g *Graph) ResidualBlock(x *Node, outChannels int64, stride int32, name string) *Node {
	return g.named(name, []*Node{x}, func(r *C.tdl_graph, c *C.char) *C.tdl_node {
		return C.tdl_residual_block(r, x.raw, C.int64_t(outChannels), C.int32_t(stride), c)
	})
}

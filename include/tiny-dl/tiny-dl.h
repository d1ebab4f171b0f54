/**
 * @file tiny-dl.h
 * @brief Umbrella header: include this one to use the whole tiny-dl C API.
 *
 * Link with `pkg-config --cflags --libs tiny-dl`. Every declaration is C99 and
 * compiles as C++ too. See docs/getting-started.md.
 */
#ifndef TINY_DL_H
#define TINY_DL_H

#include <tiny-dl/version.h>
#include <tiny-dl/export.h>
#include <tiny-dl/core.h>
#include <tiny-dl/graph.h>
#include <tiny-dl/ops.h>
#include <tiny-dl/conv.h>
#include <tiny-dl/layers.h>
#include <tiny-dl/optim.h>
#include <tiny-dl/io.h>
#include <tiny-dl/data.h>
#include <tiny-dl/metrics.h>
#include <tiny-dl/rnn.h>

#endif /* TINY_DL_H */

#pragma once
// Umbrella header: everything a user of scaling needs.

#include "scaling/blocks/blocks.hpp"
#include "scaling/core/bandwidth.hpp"
#include "scaling/core/dims.hpp"
#include "scaling/core/error.hpp"
#include "scaling/core/init.hpp"
#include "scaling/core/tensor.hpp"
#include "scaling/core/threads.hpp"
#include "scaling/layers/attention.hpp"
#include "scaling/layers/dense.hpp"
#include "scaling/layers/feedforward.hpp"
#include "scaling/layers/norm.hpp"
#include "scaling/layers/sparse_feedforward.hpp"
#include "scaling/models/configs.hpp"
#include "scaling/models/decoder_only.hpp"
#include "scaling/models/encoder_decoder.hpp"
#include "scaling/models/sampling.hpp"

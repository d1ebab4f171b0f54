//! Sequence models (rnn.h): embeddings, fused RNN/LSTM/GRU layers, a step-by-step
//! state for streaming inference, masked pooling over time, sampling from logits.
use std::ptr::NonNull;

use tiny_dl_sys as sys;

use crate::error::{check, cstr, Error, ErrorKind, Result};
use crate::graph::{Graph, Inner, Node};
use crate::c_string;

/// Kinds of recurrent layer (PyTorch's nn.RNN, nn.LSTM, nn.GRU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RnnKind {
    /// Elman RNN with tanh.
    Tanh,
    /// Elman RNN with relu.
    Relu,
    /// LSTM (gates i, f, g, o).
    Lstm,
    /// GRU (gates r, z, n).
    Gru,
}

impl RnnKind {
    fn code(self) -> i32 {
        match self {
            RnnKind::Tanh => sys::TDL_RNN_TANH,
            RnnKind::Relu => sys::TDL_RNN_RELU,
            RnnKind::Lstm => sys::TDL_RNN_LSTM,
            RnnKind::Gru => sys::TDL_RNN_GRU,
        }
    }
}

/// Which state of a recurrent layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RnnState {
    /// The hidden state h.
    H,
    /// The cell state c (LSTM only).
    C,
}

impl RnnState {
    fn code(self) -> i32 {
        match self {
            RnnState::H => sys::TDL_RNN_STATE_H,
            RnnState::C => sys::TDL_RNN_STATE_C,
        }
    }
}

/// The shape of a recurrent layer for [`Graph::rnn`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RnnConfig {
    /// RNN, LSTM or GRU.
    pub kind: RnnKind,
    /// Hidden size H.
    pub hidden: i64,
    /// Stacked layers (>= 1).
    pub layers: i32,
    /// x is [B, T, F] instead of [T, B, F].
    pub batch_first: bool,
    /// A second direction from the last step to the first.
    pub bidirectional: bool,
    /// Dropout between layers, in training mode.
    pub dropout: f32,
}

impl RnnConfig {
    /// One unidirectional, time-major layer of `kind` with `hidden` units, no dropout.
    pub fn new(kind: RnnKind, hidden: i64) -> RnnConfig {
        RnnConfig { kind, hidden, layers: 1, batch_first: false, bidirectional: false, dropout: 0.0 }
    }

    fn flags(&self) -> u32 {
        let mut f = 0;
        if self.batch_first {
            f |= sys::TDL_RNN_BATCH_FIRST;
        }
        if self.bidirectional {
            f |= sys::TDL_RNN_BIDIRECTIONAL;
        }
        f
    }
}

fn opt_ptr(n: &Option<Node<'_>>) -> *mut sys::tdl_node {
    n.map(|n| n.raw.as_ptr()).unwrap_or(std::ptr::null_mut())
}

impl<'c> Graph<'c> {
    fn own_opt(&self, n: &Option<Node<'_>>) -> Result<()> {
        match n {
            Some(n) => self.own(n),
            None => Ok(()),
        }
    }

    /// A lookup table like nn.Embedding: parameter "<name>.weight" [vocab, dim];
    /// `padding_id` names a row that stays zero and gets no gradient.
    pub fn embedding<'g>(&'g self, ids: Node<'_>, vocab: i64, dim: i64, padding_id: Option<i64>,
                         name: &str) -> Result<Node<'g>> {
        self.own(&ids)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_embedding(self.as_ptr(), ids.raw.as_ptr(), vocab, dim,
                               padding_id.unwrap_or(-1), c.as_ptr())
        };
        self.wrap(raw, &[ids], false)
    }

    /// A fused multi-layer RNN/LSTM/GRU over a whole sequence (torch.nn.RNN/LSTM/GRU
    /// parameter names and layouts). `h0`/`c0` default to zeros; `lengths` ([B] int32)
    /// marks padded steps. Output [T, B, dirs * H] (or [B, T, ...] batch-first).
    pub fn rnn<'g>(&'g self, x: Node<'_>, h0: Option<Node<'_>>, c0: Option<Node<'_>>,
                   lengths: Option<Node<'_>>, config: &RnnConfig, name: &str)
        -> Result<Node<'g>> {
        self.own(&x)?;
        self.own_opt(&h0)?;
        self.own_opt(&c0)?;
        self.own_opt(&lengths)?;
        let c = c_string("name", name)?;
        let raw = unsafe {
            sys::tdl_rnn(self.as_ptr(), x.raw.as_ptr(), opt_ptr(&h0), opt_ptr(&c0),
                         opt_ptr(&lengths), config.kind.code(), config.hidden, config.layers,
                         config.flags(), config.dropout, c.as_ptr())
        };
        let args: Vec<Node<'_>> = [Some(x), h0, c0, lengths].iter().flatten().copied().collect();
        self.wrap(raw, &args, false)
    }

    /// The final h (or c, LSTM) of an [`rnn`](Graph::rnn) node: [layers * dirs, B, H].
    pub fn rnn_final_state<'g>(&'g self, rnn_out: Node<'_>, which: RnnState) -> Result<Node<'g>> {
        self.own(&rnn_out)?;
        let raw = unsafe { sys::tdl_rnn_final_state(self.as_ptr(), rnn_out.raw.as_ptr(), which.code()) };
        self.wrap(raw, &[rnn_out], false)
    }

    /// DropConnect on the recurrent weights of an [`rnn`](Graph::rnn) node: in training,
    /// each run drops every element of every weight_hh with probability `p` (one mask per
    /// run, shared by all steps). Before the first backward pass; 0 turns it off.
    pub fn rnn_set_weight_dropout(&self, rnn_out: Node<'_>, p: f32) -> Result<()> {
        self.own(&rnn_out)?;
        check(unsafe { sys::tdl_rnn_set_weight_dropout(self.as_ptr(), rnn_out.raw.as_ptr(), p) })
    }

    /// Mean over the valid time steps of each sequence: [B, F].
    pub fn masked_mean_time<'g>(&'g self, x: Node<'_>, lengths: Option<Node<'_>>,
                                batch_first: bool) -> Result<Node<'g>> {
        self.own(&x)?;
        self.own_opt(&lengths)?;
        let raw = unsafe {
            sys::tdl_masked_mean_time(self.as_ptr(), x.raw.as_ptr(), opt_ptr(&lengths),
                                      batch_first as i32)
        };
        let args: Vec<Node<'_>> = [Some(x), lengths].iter().flatten().copied().collect();
        self.wrap(raw, &args, false)
    }
}

/// Runs a unidirectional [`Graph::rnn`] layer one step at a time (streaming
/// inference, generation); borrows the graph, whose parameters it copies at
/// creation and at every [`reset`](RnnStepper::reset).
pub struct RnnStepper<'g> {
    raw: NonNull<sys::tdl_rnn_state>,
    _g: &'g Inner,
    batch: usize,
    features: usize,
    hidden: usize,
    layers: usize,
}

impl<'g> RnnStepper<'g> {
    /// A state for `batch` sequences (zero h and c) of the layer `rnn_out`, a
    /// node returned by [`Graph::rnn`] in `g`.
    pub fn new(g: &'g Graph<'_>, rnn_out: Node<'_>, batch: usize) -> Result<RnnStepper<'g>> {
        g.own(&rnn_out)?;
        // the sizes the C state reads and writes, from the layer's parameters
        let name = rnn_out.name();
        let w0 = g.find(&format!("{}.weight_ih_l0", name)).ok_or_else(|| {
            Error::new(ErrorKind::InvalidArgument,
                       format!("rnn state: node '{}' is not a tdl_rnn output", name))
        })?;
        let features = w0.shape().get(1).copied().unwrap_or(0).max(0) as usize;
        let mut layers = 0;
        while g.find(&format!("{}.weight_ih_l{}", name, layers)).is_some() {
            layers += 1;
        }
        let out_shape = rnn_out.shape();
        let hidden = out_shape.last().copied().unwrap_or(0).max(0) as usize;
        let mut raw = std::ptr::null_mut();
        check(unsafe {
            sys::tdl_rnn_state_create(g.as_ptr(), rnn_out.raw.as_ptr(), batch as i64, &mut raw)
        })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "tdl_rnn_state_create returned NULL"))?;
        Ok(RnnStepper { raw, _g: &g.inner, batch, features, hidden, layers })
    }

    /// One step: `x_t` is [batch, F]; the last layer's output h ([batch, H]) goes to
    /// `y_t` when given.
    pub fn step(&mut self, x_t: &[f32], y_t: Option<&mut [f32]>) -> Result<()> {
        if x_t.len() != self.batch * self.features {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("rnn step: x_t has {} values, [{}, {}] expected", x_t.len(), self.batch,
                        self.features),
            ));
        }
        let y = match y_t {
            Some(y) => {
                if y.len() != self.batch * self.hidden {
                    return Err(Error::new(
                        ErrorKind::Shape,
                        format!("rnn step: y_t has {} values, [{}, {}] expected", y.len(),
                                self.batch, self.hidden),
                    ));
                }
                y.as_mut_ptr()
            }
            None => std::ptr::null_mut(),
        };
        check(unsafe { sys::tdl_rnn_state_step(self.raw.as_ptr(), x_t.as_ptr(), y) })
    }

    /// Zeroes h (and c) and copies the layer's parameters again (after training or loading).
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::tdl_rnn_state_reset(self.raw.as_ptr()) })
    }

    /// Sets h or c from [layers, batch, H] values.
    pub fn set_state(&mut self, which: RnnState, values: &[f32]) -> Result<()> {
        let shape = [self.layers as i64, self.batch as i64, self.hidden as i64];
        if values.len() != self.layers * self.batch * self.hidden {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("rnn state: {} values for shape {:?}", values.len(), shape),
            ));
        }
        check(unsafe {
            sys::tdl_rnn_state_set(self.raw.as_ptr(), which.code(), values.as_ptr(), 3,
                                   shape.as_ptr())
        })
    }

    /// A copy of h or c, [layers, batch, H].
    pub fn state(&self, which: RnnState) -> Result<Vec<f32>> {
        let mut v = vec![0.0f32; self.layers * self.batch * self.hidden];
        check(unsafe {
            sys::tdl_rnn_state_get(self.raw.as_ptr(), which.code(), v.as_mut_ptr(),
                                   std::mem::size_of_val(&v[..]))
        })?;
        Ok(v)
    }

    /// The state's last error message ("" if none).
    pub fn error(&self) -> String {
        cstr(unsafe { sys::tdl_rnn_state_error(self.raw.as_ptr()) })
    }
}

impl Drop for RnnStepper<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_rnn_state_destroy(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for RnnStepper<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RnnStepper")
            .field("batch", &self.batch)
            .field("features", &self.features)
            .field("hidden", &self.hidden)
            .field("layers", &self.layers)
            .finish()
    }
}

/// Draws an index from softmax(logits / temperature) (0: argmax), optionally among
/// the `top_k` largest (0: all); a pure function of its arguments.
pub fn sample_logits(logits: &[f32], temperature: f32, top_k: i32, seed: u64, counter: u64)
    -> Result<usize> {
    let mut id = 0i32;
    check(unsafe {
        sys::tdl_sample_logits(logits.as_ptr(), logits.len() as i64, temperature, top_k, seed,
                               counter, &mut id)
    })?;
    Ok(id as usize)
}

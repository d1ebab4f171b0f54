//! Optimizers (SGD, Adam, AdamW, RMSprop) with groups, schedules and clipping.
use std::ptr::NonNull;

use tiny_dl_sys as sys;

use crate::c_string;
use crate::error::{check, cstr, Error, ErrorKind, Result};
use crate::graph::{Graph, Inner};

/// Optimizer algorithms (PyTorch's formulas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptimKind {
    /// SGD with optional momentum / Nesterov.
    Sgd,
    /// Adam (L2 weight decay added to the gradient).
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
    /// RMSprop (not centred).
    RmsProp,
}

impl OptimKind {
    fn code(self) -> i32 {
        match self {
            OptimKind::Sgd => sys::TDL_OPTIM_SGD,
            OptimKind::Adam => sys::TDL_OPTIM_ADAM,
            OptimKind::AdamW => sys::TDL_OPTIM_ADAMW,
            OptimKind::RmsProp => sys::TDL_OPTIM_RMSPROP,
        }
    }
}

/// Options of [`Optimizer::set`] and [`Optimizer::group_set`] (see optim.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptimOption {
    /// Base learning rate.
    Lr,
    /// SGD / RMSprop momentum.
    Momentum,
    /// SGD: 1 for Nesterov momentum.
    Nesterov,
    /// Adam(W) beta1.
    Beta1,
    /// Adam(W) beta2.
    Beta2,
    /// Adam(W) / RMSprop epsilon.
    Eps,
    /// Weight decay.
    WeightDecay,
    /// RMSprop smoothing constant.
    Alpha,
    /// Clip gradients to this global L2 norm before the step (0 = off).
    ClipNorm,
    /// Group level: 1 = not updated.
    Frozen,
    /// A [`Schedule`] (use [`Optimizer::set_schedule`]).
    Schedule,
    /// Linear warm-up steps.
    WarmupSteps,
    /// Step schedule: multiply by gamma every step_size steps.
    StepSize,
    /// Step schedule factor.
    Gamma,
    /// Cosine schedule length (after warm-up).
    TotalSteps,
    /// Cosine floor, as a fraction of the base rate.
    MinLr,
}

impl OptimOption {
    fn code(self) -> i32 {
        match self {
            OptimOption::Lr => sys::TDL_OPT_LR,
            OptimOption::Momentum => sys::TDL_OPT_MOMENTUM,
            OptimOption::Nesterov => sys::TDL_OPT_NESTEROV,
            OptimOption::Beta1 => sys::TDL_OPT_BETA1,
            OptimOption::Beta2 => sys::TDL_OPT_BETA2,
            OptimOption::Eps => sys::TDL_OPT_EPS,
            OptimOption::WeightDecay => sys::TDL_OPT_WEIGHT_DECAY,
            OptimOption::Alpha => sys::TDL_OPT_ALPHA,
            OptimOption::ClipNorm => sys::TDL_OPT_CLIP_NORM,
            OptimOption::Frozen => sys::TDL_OPT_FROZEN,
            OptimOption::Schedule => sys::TDL_OPT_SCHEDULE,
            OptimOption::WarmupSteps => sys::TDL_OPT_WARMUP_STEPS,
            OptimOption::StepSize => sys::TDL_OPT_STEP_SIZE,
            OptimOption::Gamma => sys::TDL_OPT_GAMMA,
            OptimOption::TotalSteps => sys::TDL_OPT_TOTAL_STEPS,
            OptimOption::MinLr => sys::TDL_OPT_MIN_LR,
        }
    }
}

/// Learning-rate schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Schedule {
    /// The base rate.
    Constant,
    /// base * gamma^floor(t / step_size).
    Step,
    /// Cosine decay over total_steps.
    Cosine,
}

impl Schedule {
    fn code(self) -> i32 {
        match self {
            Schedule::Constant => sys::TDL_SCHED_CONSTANT,
            Schedule::Step => sys::TDL_SCHED_STEP,
            Schedule::Cosine => sys::TDL_SCHED_COSINE,
        }
    }
}

/// An optimizer of one graph's parameters; borrows the graph.
pub struct Optimizer<'g> {
    raw: NonNull<sys::tdl_optim>,
    g: &'g Inner,
}

impl<'g> Optimizer<'g> {
    fn wrap(g: &'g Graph<'_>, st: i32, raw: *mut sys::tdl_optim) -> Result<Optimizer<'g>> {
        check(st)?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "optimizer constructor returned NULL"))?;
        Ok(Optimizer { raw, g: &g.inner })
    }

    /// An optimizer of `kind` with learning rate `lr` (> 0).
    pub fn new(g: &'g Graph<'_>, kind: OptimKind, lr: f32) -> Result<Optimizer<'g>> {
        let mut raw = std::ptr::null_mut();
        let st = unsafe { sys::tdl_optim_create(g.as_ptr(), kind.code(), lr, &mut raw) };
        Self::wrap(g, st, raw)
    }

    /// SGD with momentum (0 = plain SGD).
    pub fn sgd(g: &'g Graph<'_>, lr: f32, momentum: f32) -> Result<Optimizer<'g>> {
        let mut raw = std::ptr::null_mut();
        let st = unsafe { sys::tdl_optim_create_sgd(g.as_ptr(), lr, momentum, &mut raw) };
        Self::wrap(g, st, raw)
    }

    /// Adam with PyTorch's defaults.
    pub fn adam(g: &'g Graph<'_>, lr: f32) -> Result<Optimizer<'g>> {
        let mut raw = std::ptr::null_mut();
        let st = unsafe { sys::tdl_optim_create_adam(g.as_ptr(), lr, &mut raw) };
        Self::wrap(g, st, raw)
    }

    /// Sets an option for the whole optimizer.
    pub fn set(&self, option: OptimOption, value: f64) -> Result<()> {
        check(unsafe { sys::tdl_optim_set(self.raw.as_ptr(), option.code(), value) })
    }

    /// Sets the learning-rate schedule.
    pub fn set_schedule(&self, schedule: Schedule) -> Result<()> {
        self.set(OptimOption::Schedule, schedule.code() as f64)
    }

    /// Adds a group of the parameters whose names start with `prefix`; returns its id (>= 1).
    pub fn add_group(&self, prefix: &str) -> Result<i32> {
        let c = c_string("prefix", prefix)?;
        let mut id = 0;
        check(unsafe { sys::tdl_optim_add_group(self.raw.as_ptr(), c.as_ptr(), &mut id) })?;
        Ok(id)
    }

    /// Sets Lr, WeightDecay or Frozen for one group.
    pub fn group_set(&self, group: i32, option: OptimOption, value: f64) -> Result<()> {
        check(unsafe { sys::tdl_optim_group_set(self.raw.as_ptr(), group, option.code(), value) })
    }

    /// One update from the current gradients (nothing changes when it fails).
    pub fn step(&self) -> Result<()> {
        check(unsafe { sys::tdl_optim_step(self.raw.as_ptr()) })
    }

    /// The learning rate the next step will use.
    pub fn lr(&self) -> f64 {
        unsafe { sys::tdl_optim_lr(self.raw.as_ptr()) }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i64 {
        unsafe { sys::tdl_optim_steps(self.raw.as_ptr()) }
    }

    /// Global L2 norm of the gradients seen by the last step (before clipping).
    pub fn last_grad_norm(&self) -> f64 {
        unsafe { sys::tdl_optim_last_grad_norm(self.raw.as_ptr()) }
    }

    /// The optimizer's last error message ("" if none).
    pub fn error(&self) -> String {
        cstr(unsafe { sys::tdl_optim_error(self.raw.as_ptr()) })
    }

    /// The C handle, for calls through [`sys`](crate::sys). Do not destroy it.
    pub fn as_ptr(&self) -> *mut sys::tdl_optim {
        self.raw.as_ptr()
    }

    /// True if this optimizer belongs to `g`.
    pub fn belongs_to(&self, g: &Graph<'_>) -> bool {
        std::ptr::eq(self.g, &g.inner)
    }
}

impl Drop for Optimizer<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_optim_destroy(self.raw.as_ptr()) }
    }
}

impl<'c> Graph<'c> {
    /// Shorthand for [`Optimizer::adam`].
    pub fn adam(&self, lr: f32) -> Result<Optimizer<'_>> {
        Optimizer::adam(self, lr)
    }

    /// Shorthand for [`Optimizer::sgd`].
    pub fn sgd(&self, lr: f32, momentum: f32) -> Result<Optimizer<'_>> {
        Optimizer::sgd(self, lr, momentum)
    }

    /// Shorthand for [`Optimizer::new`].
    pub fn optimizer(&self, kind: OptimKind, lr: f32) -> Result<Optimizer<'_>> {
        Optimizer::new(self, kind, lr)
    }
}

impl std::fmt::Debug for Optimizer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer").field("lr", &self.lr()).field("steps", &self.steps()).finish()
    }
}

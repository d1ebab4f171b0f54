//! Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix.
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::c_char;
use std::ptr::NonNull;

use tiny_dl_sys as sys;

use crate::error::{check, Error, ErrorKind, Result};
use crate::{c_string, Context};

/// An accumulating confusion matrix; borrows its context.
pub struct Metrics<'c> {
    raw: NonNull<sys::tdl_metrics>,
    classes: usize,
    _ctx: PhantomData<&'c Context>,
}

/// Precision, recall and F1 of one class (0 where undefined).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassMetrics {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1 score.
    pub f1: f64,
}

impl<'c> Metrics<'c> {
    /// An empty confusion matrix for `num_classes` classes (2..65536).
    pub fn new(ctx: &'c Context, num_classes: i32) -> Result<Metrics<'c>> {
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::tdl_metrics_create(ctx.as_ptr(), num_classes, &mut raw) })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "tdl_metrics_create returned NULL"))?;
        Ok(Metrics { raw, classes: num_classes as usize, _ctx: PhantomData })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.classes
    }

    /// Clears the counts.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::tdl_metrics_reset(self.raw.as_ptr()) })
    }

    /// Adds predictions given as scores (`labels.len()` rows of `num_classes` floats).
    pub fn update_scores(&mut self, scores: &[f32], labels: &[i32]) -> Result<()> {
        if labels.len().checked_mul(self.classes) != Some(scores.len()) {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("update_scores: {} scores for {} labels of {} classes", scores.len(),
                        labels.len(), self.classes),
            ));
        }
        check(unsafe {
            sys::tdl_metrics_update_scores(self.raw.as_ptr(), scores.as_ptr(), labels.as_ptr(),
                                           labels.len() as i64)
        })
    }

    /// Adds predicted class ids with their labels.
    pub fn update(&mut self, predicted: &[i32], labels: &[i32]) -> Result<()> {
        if predicted.len() != labels.len() {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("update: {} predictions for {} labels", predicted.len(), labels.len()),
            ));
        }
        check(unsafe {
            sys::tdl_metrics_update(self.raw.as_ptr(), predicted.as_ptr(), labels.as_ptr(),
                                    labels.len() as i64)
        })
    }

    /// Samples counted.
    pub fn count(&self) -> i64 {
        unsafe { sys::tdl_metrics_count(self.raw.as_ptr()) }
    }

    /// Fraction of correct predictions (0 when empty).
    pub fn accuracy(&self) -> f64 {
        unsafe { sys::tdl_metrics_accuracy(self.raw.as_ptr()) }
    }

    /// Precision, recall and F1 of class `cls`.
    pub fn class(&self, cls: i32) -> Result<ClassMetrics> {
        let mut m = ClassMetrics { precision: 0.0, recall: 0.0, f1: 0.0 };
        check(unsafe {
            sys::tdl_metrics_class(self.raw.as_ptr(), cls, &mut m.precision, &mut m.recall,
                                   &mut m.f1)
        })?;
        Ok(m)
    }

    /// Unweighted mean of the per-class F1.
    pub fn macro_f1(&self) -> f64 {
        unsafe { sys::tdl_metrics_macro_f1(self.raw.as_ptr()) }
    }

    /// Samples of class `truth` predicted as `predicted`.
    pub fn confusion(&self, truth: i32, predicted: i32) -> i64 {
        unsafe { sys::tdl_metrics_confusion(self.raw.as_ptr(), truth, predicted) }
    }

    /// A text report (per-class table, accuracy, macro F1, confusion matrix).
    pub fn report(&self, class_names: Option<&[&str]>) -> Result<String> {
        let names: Vec<CString> = match class_names {
            Some(list) => {
                if list.len() != self.classes {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!("report: {} names for {} classes", list.len(), self.classes),
                    ));
                }
                list.iter().map(|n| c_string("class name", n)).collect::<Result<_>>()?
            }
            None => Vec::new(),
        };
        let ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let names_ptr = if class_names.is_some() { ptrs.as_ptr() } else { std::ptr::null() };
        let mut needed = 0usize;
        check(unsafe {
            sys::tdl_metrics_report(self.raw.as_ptr(), names_ptr, std::ptr::null_mut(), 0,
                                    &mut needed)
        })?;
        let mut buf = vec![0u8; needed + 1];
        check(unsafe {
            sys::tdl_metrics_report(self.raw.as_ptr(), names_ptr, buf.as_mut_ptr() as *mut c_char,
                                    buf.len(), &mut needed)
        })?;
        buf.truncate(needed.min(buf.len() - 1));
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

impl Drop for Metrics<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_metrics_destroy(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Metrics<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("classes", &self.classes)
            .field("count", &self.count())
            .field("accuracy", &self.accuracy())
            .finish()
    }
}

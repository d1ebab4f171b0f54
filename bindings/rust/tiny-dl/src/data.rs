//! Datasets (IDX files or arrays), a shuffling batch iterator, and in-place augmentation.
use std::marker::PhantomData;
use std::path::Path;
use std::ptr::NonNull;

use tiny_dl_sys as sys;

use crate::error::{check, Error, ErrorKind, Result};
use crate::{c_path, Context};

/// A labelled dataset in memory (float samples, int32 labels); borrows its context.
pub struct Dataset<'c> {
    raw: NonNull<sys::tdl_dataset>,
    _ctx: PhantomData<&'c Context>,
}

fn wrap_ds<'c>(raw: *mut sys::tdl_dataset) -> Result<Dataset<'c>> {
    let raw = NonNull::new(raw)
        .ok_or_else(|| Error::new(ErrorKind::Internal, "dataset constructor returned NULL"))?;
    Ok(Dataset { raw, _ctx: PhantomData })
}

impl<'c> Dataset<'c> {
    /// Loads an IDX images file and an IDX labels file (".gz" read directly in zlib builds);
    /// pixels become floats in [0, 1].
    pub fn load_idx(ctx: &'c Context, images: impl AsRef<Path>, labels: impl AsRef<Path>)
        -> Result<Dataset<'c>> {
        let i = c_path(images.as_ref())?;
        let l = c_path(labels.as_ref())?;
        let mut raw = std::ptr::null_mut();
        check(unsafe { sys::tdl_dataset_load_idx(ctx.as_ptr(), i.as_ptr(), l.as_ptr(), &mut raw) })?;
        wrap_ds(raw)
    }

    /// A dataset holding copies of `x` (n samples of `sample_shape`) and `y` (n labels >= 0).
    pub fn from_arrays(ctx: &'c Context, x: &[f32], y: &[i32], sample_shape: &[i64])
        -> Result<Dataset<'c>> {
        let per = crate::checked_numel(sample_shape);
        if sample_shape.is_empty() || per.and_then(|p| p.checked_mul(y.len())) != Some(x.len()) {
            return Err(Error::new(
                ErrorKind::Shape,
                format!("from_arrays: {} floats for {} samples of shape {:?}", x.len(), y.len(),
                        sample_shape),
            ));
        }
        let mut raw = std::ptr::null_mut();
        check(unsafe {
            sys::tdl_dataset_from_arrays(ctx.as_ptr(), x.as_ptr(), y.as_ptr(), y.len() as i64,
                                         sample_shape.len() as i32, sample_shape.as_ptr(),
                                         &mut raw)
        })?;
        wrap_ds(raw)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        unsafe { sys::tdl_dataset_size(self.raw.as_ptr()) }.max(0) as usize
    }

    /// True when there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Floats per sample.
    pub fn sample_size(&self) -> usize {
        unsafe { sys::tdl_dataset_sample_size(self.raw.as_ptr()) }.max(0) as usize
    }

    /// Shape of one sample.
    pub fn sample_shape(&self) -> Vec<i64> {
        let mut ndim = 0i32;
        let mut shape = [0i64; sys::TDL_MAX_DIMS];
        let st = unsafe {
            sys::tdl_dataset_sample_shape(self.raw.as_ptr(), &mut ndim, shape.as_mut_ptr())
        };
        if st != sys::TDL_OK {
            return Vec::new();
        }
        shape[..(ndim.max(0) as usize).min(sys::TDL_MAX_DIMS)].to_vec()
    }

    /// Largest label + 1.
    pub fn num_classes(&self) -> i32 {
        unsafe { sys::tdl_dataset_num_classes(self.raw.as_ptr()) }
    }

    /// Every sample, row-major.
    pub fn x(&self) -> &[f32] {
        let p = unsafe { sys::tdl_dataset_x(self.raw.as_ptr()) };
        let n = self.len() * self.sample_size();
        if p.is_null() || n == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(p, n) }
        }
    }

    /// Every label.
    pub fn y(&self) -> &[i32] {
        let p = unsafe { sys::tdl_dataset_y(self.raw.as_ptr()) };
        let n = self.len();
        if p.is_null() || n == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(p, n) }
        }
    }

    /// Keeps the first `n` samples (1 <= n <= len).
    pub fn truncate(&mut self, n: usize) -> Result<()> {
        check(unsafe { sys::tdl_dataset_truncate(self.raw.as_ptr(), n as i64) })
    }

    /// A mini-batch iterator (a new permutation each epoch when `shuffle`).
    pub fn batcher(&self, batch_size: usize, shuffle: bool, seed: u64) -> Result<Batcher<'_>> {
        let mut raw = std::ptr::null_mut();
        check(unsafe {
            sys::tdl_batcher_create(self.raw.as_ptr(), batch_size as i64, shuffle as i32, seed,
                                    &mut raw)
        })?;
        let raw = NonNull::new(raw)
            .ok_or_else(|| Error::new(ErrorKind::Internal, "tdl_batcher_create returned NULL"))?;
        Ok(Batcher { raw, sample_size: self.sample_size(), _ds: PhantomData })
    }

    /// The C handle, for calls through [`sys`](crate::sys). Do not destroy it.
    pub fn as_ptr(&self) -> *mut sys::tdl_dataset {
        self.raw.as_ptr()
    }
}

impl Drop for Dataset<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_dataset_destroy(self.raw.as_ptr()) }
    }
}

/// A mini-batch iterator over a dataset (which it borrows).
pub struct Batcher<'d> {
    raw: NonNull<sys::tdl_batcher>,
    sample_size: usize,
    _ds: PhantomData<&'d ()>,
}

/// One mini-batch; its slices belong to the batcher and live until its next call.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// n * sample_size floats.
    pub x: &'a [f32],
    /// n labels.
    pub y: &'a [i32],
    /// Samples in the batch.
    pub n: usize,
}

impl<'d> Batcher<'d> {
    /// The next batch of this epoch, or `None` at its end (then call [`reset`](Batcher::reset)).
    pub fn next_batch(&mut self) -> Result<Option<Batch<'_>>> {
        let mut x = std::ptr::null();
        let mut y = std::ptr::null();
        let mut n = 0i64;
        check(unsafe { sys::tdl_batcher_next(self.raw.as_ptr(), &mut x, &mut y, &mut n) })?;
        if n <= 0 || x.is_null() || y.is_null() {
            return Ok(None);
        }
        let n = n as usize;
        // SAFETY: the batcher owns n * sample_size floats and n labels until its next call,
        // which needs `&mut self`, so the borrow of the returned batch must end first.
        unsafe {
            Ok(Some(Batch {
                x: std::slice::from_raw_parts(x, n * self.sample_size),
                y: std::slice::from_raw_parts(y, n),
                n,
            }))
        }
    }

    /// Starts the next epoch (re-shuffling when enabled).
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::tdl_batcher_reset(self.raw.as_ptr()) })
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        unsafe { sys::tdl_batcher_num_batches(self.raw.as_ptr()) }.max(0) as usize
    }
}

impl Drop for Batcher<'_> {
    fn drop(&mut self) {
        unsafe { sys::tdl_batcher_destroy(self.raw.as_ptr()) }
    }
}

fn nchw_len(x: &[f32], dims: [i64; 4]) -> Result<()> {
    let mut n: u64 = 1;
    for d in dims {
        if d < 1 {
            return Err(Error::new(ErrorKind::InvalidArgument, format!("sizes {:?} must be >= 1", dims)));
        }
        n = n.saturating_mul(d as u64);
    }
    if n != x.len() as u64 {
        return Err(Error::new(
            ErrorKind::Shape,
            format!("{} floats for a batch of shape {:?}", x.len(), dims),
        ));
    }
    Ok(())
}

/// Random horizontal flip of NCHW images in place (sample i decided by seed and counter + i).
#[allow(clippy::too_many_arguments)]
pub fn augment_flip(x: &mut [f32], n: i64, c: i64, h: i64, w: i64, p: f32, seed: u64,
                    counter: u64) -> Result<()> {
    nchw_len(x, [n, c, h, w])?;
    check(unsafe { sys::tdl_augment_flip(x.as_mut_ptr(), n, c, h, w, p, seed, counter) })
}

/// Random translation of NCHW images in place by up to `max_shift` pixels, uncovered
/// pixels set to `fill`.
#[allow(clippy::too_many_arguments)]
pub fn augment_translate(x: &mut [f32], n: i64, c: i64, h: i64, w: i64, max_shift: i32,
                         fill: f32, seed: u64, counter: u64) -> Result<()> {
    nchw_len(x, [n, c, h, w])?;
    check(unsafe {
        sys::tdl_augment_translate(x.as_mut_ptr(), n, c, h, w, max_shift, fill, seed, counter)
    })
}

/// x = (x - mean[ch]) / std[ch] in place for n samples of `mean.len()` channels of
/// `spatial` values.
pub fn normalize_channels(x: &mut [f32], n: i64, spatial: i64, mean: &[f32], std: &[f32])
    -> Result<()> {
    if mean.len() != std.len() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("normalize_channels: {} means and {} deviations", mean.len(), std.len()),
        ));
    }
    let c = mean.len() as i64;
    nchw_len(x, [n, c, spatial, 1])?;
    check(unsafe {
        sys::tdl_normalize_channels(x.as_mut_ptr(), n, c, spatial, mean.as_ptr(), std.as_ptr())
    })
}

impl std::fmt::Debug for Dataset<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("len", &self.len())
            .field("sample_shape", &self.sample_shape())
            .field("num_classes", &self.num_classes())
            .finish()
    }
}

impl std::fmt::Debug for Batcher<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").field("num_batches", &self.num_batches()).finish()
    }
}

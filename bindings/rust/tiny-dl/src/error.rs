//! Errors: the library's status code and its message.
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_char;

use tiny_dl_sys as sys;

/// The kind of an [`Error`], one per `tdl_status` code of the C API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `TDL_ERR_INVALID_ARGUMENT`: a bad handle, pointer or out-of-range value.
    InvalidArgument,
    /// `TDL_ERR_SHAPE`: shapes do not fit together.
    Shape,
    /// `TDL_ERR_DTYPE`: wrong element type.
    Dtype,
    /// `TDL_ERR_OUT_OF_MEMORY`.
    OutOfMemory,
    /// `TDL_ERR_IO`: a file could not be opened, read, written or renamed.
    Io,
    /// `TDL_ERR_FORMAT`: a file is truncated, corrupt or in another format.
    Format,
    /// `TDL_ERR_NOT_FOUND`: a name or key does not exist.
    NotFound,
    /// `TDL_ERR_STATE`: a call out of order (e.g. running before feeding).
    State,
    /// `TDL_ERR_NON_FINITE`: a NaN or infinity was found.
    NonFinite,
    /// `TDL_ERR_UNSUPPORTED`: not supported by this build or CPU.
    Unsupported,
    /// `TDL_ERR_INTERNAL`: a bug in tiny-dl.
    Internal,
    /// A code this version of the binding does not know.
    Other(i32),
}

impl ErrorKind {
    /// The kind of a C status code.
    pub fn from_code(code: i32) -> ErrorKind {
        match code {
            sys::TDL_ERR_INVALID_ARGUMENT => ErrorKind::InvalidArgument,
            sys::TDL_ERR_SHAPE => ErrorKind::Shape,
            sys::TDL_ERR_DTYPE => ErrorKind::Dtype,
            sys::TDL_ERR_OUT_OF_MEMORY => ErrorKind::OutOfMemory,
            sys::TDL_ERR_IO => ErrorKind::Io,
            sys::TDL_ERR_FORMAT => ErrorKind::Format,
            sys::TDL_ERR_NOT_FOUND => ErrorKind::NotFound,
            sys::TDL_ERR_STATE => ErrorKind::State,
            sys::TDL_ERR_NON_FINITE => ErrorKind::NonFinite,
            sys::TDL_ERR_UNSUPPORTED => ErrorKind::Unsupported,
            sys::TDL_ERR_INTERNAL => ErrorKind::Internal,
            other => ErrorKind::Other(other),
        }
    }

    /// The C status code of this kind.
    pub fn code(self) -> i32 {
        match self {
            ErrorKind::InvalidArgument => sys::TDL_ERR_INVALID_ARGUMENT,
            ErrorKind::Shape => sys::TDL_ERR_SHAPE,
            ErrorKind::Dtype => sys::TDL_ERR_DTYPE,
            ErrorKind::OutOfMemory => sys::TDL_ERR_OUT_OF_MEMORY,
            ErrorKind::Io => sys::TDL_ERR_IO,
            ErrorKind::Format => sys::TDL_ERR_FORMAT,
            ErrorKind::NotFound => sys::TDL_ERR_NOT_FOUND,
            ErrorKind::State => sys::TDL_ERR_STATE,
            ErrorKind::NonFinite => sys::TDL_ERR_NON_FINITE,
            ErrorKind::Unsupported => sys::TDL_ERR_UNSUPPORTED,
            ErrorKind::Internal => sys::TDL_ERR_INTERNAL,
            ErrorKind::Other(c) => c,
        }
    }
}

/// An error from tiny-dl: the status code and the library's message (which
/// names the op, the node and the shapes involved), or a message of this
/// binding for the checks it makes itself (slice lengths, dtypes, a node of
/// another graph, data fed in a scope that has ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: i32,
    message: String,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the library returns NUL-terminated strings it keeps alive
        // at least until the next call on the same thread.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

impl Error {
    /// An error with the given status code and message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { code: kind.code(), message: message.into() }
    }

    /// The error of a failed call: `code` with the calling thread's last message.
    pub(crate) fn last(code: i32) -> Error {
        // SAFETY: tdl_last_error() never returns NULL; the string is copied at once.
        let message = cstr(unsafe { sys::tdl_last_error() });
        Error { code, message }
    }

    /// The C status code (negative).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::from_code(self.code)
    }

    /// The library's message (e.g. `tdl_feed: input 'x' expects shape [B, 2] ...`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `Ok(())` for `TDL_OK`, otherwise the status with the thread's last message.
pub(crate) fn check(status: i32) -> Result<()> {
    if status == sys::TDL_OK {
        Ok(())
    } else {
        Err(Error::last(status))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = crate::status_string(self.code);
        if self.message.is_empty() {
            write!(f, "{}", kind)
        } else {
            write!(f, "{} ({})", self.message, kind)
        }
    }
}

impl std::error::Error for Error {}

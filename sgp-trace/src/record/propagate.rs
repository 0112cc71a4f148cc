//! Carrying the current span into other threads, async tasks and child processes, so one
//! trace covers all the work.
//!
//! - [`spawn`] and [`Builder`] mirror `std::thread`: the new thread starts inside the
//!   caller's span.
//! - [`Propagate::propagate`] wraps a future (entered on every poll, on whichever thread
//!   polls it: `tokio::spawn`, join sets, any executor) or a closure (for thread pools and
//!   scoped threads).
//! - [`CommandExt::propagate_context`] hands the span to a child process through the
//!   [`SGP_TRACE_PARENT`](crate::PARENT_ENV_VAR) variable.
//!
//! Only the span's ids travel: a thread may outlive the span it started in, and its spans
//! still land under that span.
//!
//! ```
//! use sgp_trace::propagate::{self, Propagate};
//! # let discard = |_: &sgp_trace::Batch<'_>| -> Result<(), sgp_trace::ExportError> { Ok(()) };
//! # let _guard = sgp_trace::init(sgp_trace::Config::builder().exporter(discard).build().unwrap());
//! let _trace = sgp_trace::create_trace("fan out").start();
//! assert!(sgp_trace::current_span().is_some());
//! let handle = propagate::spawn(|| sgp_trace::current_span());
//! assert_eq!(handle.join().unwrap(), sgp_trace::current_span());
//! let work = (|| sgp_trace::current_span()).propagate();
//! assert_eq!(std::thread::spawn(work).join().unwrap(), sgp_trace::current_span());
//! ```

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{JoinHandle, Scope, ScopedJoinHandle};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::diag;
use crate::record::context::PARENT_ENV_VAR;
use crate::record::context::PARENT_SAMPLED_ENV_VAR;
use crate::record::context::{self, ContextGuard, Entry};

/// How long [`CommandExt::propagate_context`] waits for the parent's span to reach the
/// server before the child starts.
pub const PARENT_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Spawns a thread, like [`std::thread::spawn`], that starts inside the caller's span.
pub fn spawn<F, T>(work: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(work.propagate())
}

/// Configures a thread like [`std::thread::Builder`]; the thread starts inside the caller's
/// span.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder with the defaults of [`std::thread::Builder`].
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
        }
    }

    /// Names the thread.
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name),
        }
    }

    /// Sets the thread's stack size in bytes.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
        }
    }

    /// Spawns the thread; see [`std::thread::Builder::spawn`].
    pub fn spawn<F, T>(self, work: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.inner.spawn(work.propagate())
    }

    /// Spawns a scoped thread; see [`std::thread::Builder::spawn_scoped`].
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        work: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.inner.spawn_scoped(scope, work.propagate())
    }
}

/// Wraps work so it runs in the span current where it was wrapped.
///
/// For a future, `fut.propagate()` gives a future that enters that span on every poll. For a
/// closure, `f.propagate()` gives a boxed closure that enters it while it runs, for
/// `std::thread::scope`, rayon, crossbeam or any pool. The `Kind` parameter only lets one
/// method name serve both; it is inferred.
///
/// ```
/// use std::future::Future;
/// use sgp_trace::propagate::Propagate;
/// # let discard = |_: &sgp_trace::Batch<'_>| -> Result<(), sgp_trace::ExportError> { Ok(()) };
/// # let _guard = sgp_trace::init(sgp_trace::Config::builder().exporter(discard).build().unwrap());
/// let trace = sgp_trace::create_trace("request").start();
/// let here = trace.context();
/// let future = async { sgp_trace::current_span() }.propagate();
/// let closure = (|| sgp_trace::current_span()).propagate();
/// std::thread::scope(|scope| assert_eq!(scope.spawn(closure).join().unwrap(), here));
/// let polled_elsewhere = std::thread::spawn(move || {
///     let waker = std::task::Waker::noop();
///     let mut context = std::task::Context::from_waker(&waker);
///     std::pin::pin!(future).poll(&mut context)
/// });
/// assert_eq!(polled_elsewhere.join().unwrap(), std::task::Poll::Ready(here));
/// ```
pub trait Propagate<Kind>: Sized {
    /// The wrapped work.
    type Propagated;

    /// Captures the current span for the work.
    fn propagate(self) -> Self::Propagated;
}

/// Marks the [`Propagate`] implementation for futures.
#[derive(Debug)]
pub enum FutureKind {}

/// Marks the [`Propagate`] implementation for closures returning `R` and living for `'a`.
#[derive(Debug)]
pub struct ClosureKind<'a, R>(PhantomData<fn(&'a ()) -> R>);

impl<F: Future> Propagate<FutureKind> for F {
    type Propagated = Propagated<F>;

    fn propagate(self) -> Propagated<F> {
        Propagated {
            context: context::current_entry(),
            future: self,
        }
    }
}

impl<'a, F, R> Propagate<ClosureKind<'a, R>> for F
where
    F: FnOnce() -> R + Send + 'a,
{
    type Propagated = Box<dyn FnOnce() -> R + Send + 'a>;

    fn propagate(self) -> Self::Propagated {
        let captured = context::current_entry();
        Box::new(move || {
            let _entered = captured.map(ContextGuard::push);
            self()
        })
    }
}

pin_project! {
    /// A future that runs in the span current when it was made; see [`Propagate`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Propagated<F> {
        context: Option<Entry>,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Propagated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.context.clone().map(ContextGuard::push);
        this.future.poll(cx)
    }
}

/// Hands the current span to a child process.
pub trait CommandExt {
    /// Puts the current span into the child's environment as [`PARENT_ENV_VAR`], so that
    /// the child's `init` (or first span) adopts it and the child's top-level spans become
    /// children of this span, exported by the child's own export thread.
    ///
    /// First it flushes this process's queue (waiting at most [`PARENT_SEND_TIMEOUT`]), so
    /// the parent span's start is on the server before the child can send a span under it.
    /// With no span current, the variable is removed, so the child starts its own traces.
    ///
    /// ```no_run
    /// use sgp_trace::propagate::CommandExt;
    /// let _trace = sgp_trace::create_trace("batch").start();
    /// std::process::Command::new("worker").propagate_context().status().unwrap();
    /// ```
    fn propagate_context(&mut self) -> &mut Self;
}

/// The same implementation for every `Command` type with `env` and `env_remove`.
macro_rules! impl_command_ext {
    ($command:ty) => {
        impl CommandExt for $command {
            fn propagate_context(&mut self) -> &mut Self {
                for (name, value) in child_environment() {
                    match value {
                        Some(value) => self.env(name, value),
                        None => self.env_remove(name),
                    };
                }
                self
            }
        }
    };
}

impl_command_ext!(std::process::Command);

#[cfg(feature = "tokio")]
impl_command_ext!(tokio::process::Command);

/// The variables a child process gets: the current span's compact form (after making sure
/// its start reached the server) and, when its trace was not sampled, the flag saying so;
/// `None` removes a variable, so nothing stale from this process's own parent leaks through.
fn child_environment() -> [(&'static str, Option<String>); 2] {
    let Some(entry) = context::current_entry() else {
        return [(PARENT_ENV_VAR, None), (PARENT_SAMPLED_ENV_VAR, None)];
    };
    if !entry.sampled {
        return [
            (PARENT_ENV_VAR, Some(entry.context.to_string())),
            (PARENT_SAMPLED_ENV_VAR, Some("0".into())),
        ];
    }
    if let Err(error) = crate::runtime::flush_queue_within(PARENT_SEND_TIMEOUT) {
        diag::warn(format_args!(
            "{error}; the child process may send spans before their parent span {} arrives",
            entry.context.span_id
        ));
    }
    [
        (PARENT_ENV_VAR, Some(entry.context.to_string())),
        (PARENT_SAMPLED_ENV_VAR, None),
    ]
}

//! A minimal executor for backends whose futures never wait on IO.
//!
//! The simulator's `Observe`/`Control` futures complete at once (its clock is
//! virtual), so a simulator run needs no async runtime: this parks the thread
//! until the future's waker fires, which for the simulator is never needed.
//! Backends that do real IO run on tokio instead.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pending once, waking itself; then ready.
    struct YieldOnce(bool);

    impl Future for YieldOnce {
        type Output = &'static str;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if self.0 {
                Poll::Ready("done")
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn runs_ready_and_self_waking_futures() {
        assert_eq!(block_on(async { 41 + 1 }), 42);
        assert_eq!(block_on(YieldOnce(false)), "done");
    }
}

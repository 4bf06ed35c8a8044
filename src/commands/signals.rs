//! SIGINT/SIGTERM during `run`: the first stops scheduling (grace period), the second drops the
//! running cases.

use crate::batch::{StopReason, StopSignal};

/// Turns SIGINT/SIGTERM into stops: the first stops scheduling (grace period), the second
/// drops the running cases. The handlers are installed before this returns (so a signal that
/// comes right after is never the default "terminate"); the task ends with the returned guard.
pub(crate) fn listen_for_signals(stop: StopSignal) -> SignalGuard {
    let mut signals = Signals::install();
    let task = tokio::spawn(async move {
        let mut count = 0;
        while signals.next().await {
            count += 1;
            if count == 1 {
                stop.stop(StopReason::Interrupted);
            } else {
                stop.abandon(StopReason::Interrupted);
            }
        }
    });
    SignalGuard(task)
}

/// Aborts the signal task when dropped.
pub(crate) struct SignalGuard(tokio::task::JoinHandle<()>);

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Waits for the next signal; `false` when none can come.
    async fn next(&mut self) -> bool {
        async fn receive(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
            match signal {
                Some(signal) => signal.recv().await,
                None => futures::future::pending().await,
            }
        }
        if self.interrupt.is_none() && self.terminate.is_none() {
            return false;
        }
        tokio::select! {
            received = receive(&mut self.interrupt) => received.is_some(),
            received = receive(&mut self.terminate) => received.is_some(),
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Self {
        Self
    }

    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

//! [`ExitStatus`]: the exit codes of DESIGN.md, in one place.

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the run completed and the policy holds.
    Success,
    /// 1: the run completed and the policy does not hold.
    PolicyFailed,
    /// 2: usage or configuration error (bad flags, unreadable inputs, project that does not load).
    Usage,
    /// 3: fetch error (download failed, checksum mismatch, unsafe or corrupt archive).
    Fetch,
    /// 4: the total timeout ran out (results so far are written).
    TotalTimeout,
    /// 130: interrupted by SIGINT/SIGTERM (results so far are written).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::PolicyFailed => 1,
            Self::Usage => 2,
            Self::Fetch => 3,
            Self::TotalTimeout => 4,
            Self::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        Self::from(status.code())
    }
}

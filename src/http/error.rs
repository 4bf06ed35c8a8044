//! [`HttpError`]: the shared client could not be built.

/// Building the shared HTTP client failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A proxy URL from the environment is not valid.
    #[error("invalid proxy URL `{proxy}`")]
    Proxy {
        /// The proxy URL, credentials masked.
        proxy: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// `AIGNE_CI_TEST_ROOT_CERT` (debug builds, tests only) names no readable PEM certificate.
    #[error("`{}` (AIGNE_CI_TEST_ROOT_CERT) is not a readable PEM certificate", path.display())]
    TestRootCertificate {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The TLS or connection setup failed.
    #[error("cannot build the HTTP client")]
    Client {
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
}

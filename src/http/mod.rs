//! The shared HTTP layer: one reqwest client per run, timeouts, proxies from the environment,
//! retry classification with back-off and `Retry-After`.

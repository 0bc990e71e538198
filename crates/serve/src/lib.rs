//! Reward HTTP service (OpenRLHF, oat and aha's own API) over aha-verify and aha-reflect.
#![deny(missing_docs)]

//! Rule-based rewards: math answer extraction and exact equivalence, R1 format, Countdown.
#![deny(missing_docs)]

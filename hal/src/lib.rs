//! The traits a controller board provides to the firmware. `no_std`: a board may be a host
//! process (the `sim` board) or a real machine.
#![no_std]
#![deny(unsafe_code)]

pub mod drive;

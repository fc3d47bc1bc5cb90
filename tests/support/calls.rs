//! The MessagePack of a one-argument call and of an integer result, for
//! the tests that call one cached function `f(i)` many times.
#![allow(dead_code)]

/// The arguments of `f(x)`: a MessagePack array of one integer.
pub fn args(x: i64) -> Vec<u8> {
    let mut v = vec![0x91];
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

/// An integer value.
pub fn int(x: i64) -> Vec<u8> {
    let mut v = Vec::new();
    rmp::encode::write_sint(&mut v, x).unwrap();
    v
}

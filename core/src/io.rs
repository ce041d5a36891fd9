//! Audio decoding and encoding. (skeleton: the io helper fills this in)

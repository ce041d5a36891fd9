//! Signal statistics and effective bandwidth. (skeleton: the io helper fills this in)

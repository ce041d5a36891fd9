//! Quality metrics. (skeleton: the metrics helper fills this in)

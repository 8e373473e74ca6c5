//! Storage (issue [2/8]; being written).

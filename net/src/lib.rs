//! TimeCoin P2P transport (under construction: issue [4/8]).

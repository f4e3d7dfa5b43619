//! vwand configuration.

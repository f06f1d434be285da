//! The billing domain.

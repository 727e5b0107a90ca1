//! miroir-testnode

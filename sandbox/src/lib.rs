//! Worker process model and confinement; filled in by the sandbox work.

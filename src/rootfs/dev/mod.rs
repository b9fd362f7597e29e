//! /dev for a container whose /dev is a fresh tmpfs.

pub mod nodes;

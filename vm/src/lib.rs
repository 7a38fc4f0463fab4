//! VM backends: QEMU booting the node image.

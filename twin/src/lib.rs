//! The node twin: the simulator's model driven in real time as kubelite, with real containerd.

"""Tools that drive a running stack (`make demo/drill/redrive/invoke/soak`), apart from the emulator
in `devstack`; each talks to it through one client and waits with one helper (`client`)."""

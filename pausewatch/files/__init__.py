"""The core's only I/O: key files (``keyfile``), state directories and their locks
(``statedir``), bundle files (``bundle``), and the systemd notify socket (``sd_notify``).
Everything else in ``pausewatch`` is bytes in, values out; ``make lint`` holds it to that."""

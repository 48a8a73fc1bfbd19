"""Infrastructure every part of rtaid uses: configuration (``config``), logging
(``log``), secrets (``secrets``), systemd notification (``sdnotify``), the exchange's
instrument facts (``exchange_info``) and the recordings/journal format (``recordings``).
Nothing here runs per message."""

"""What the commands show: the report and every JSON shape."""

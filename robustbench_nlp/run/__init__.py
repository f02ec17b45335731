"""Running a suite: the suite file, the plugin tables, the runner and the results store."""

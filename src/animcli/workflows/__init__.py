"""What users run on files, each the library call one command makes: animate files (and its request),
edit, predict (image to video), the demo, bench, and the live session."""

/** Exit statuses, documented in h2fs(8) EXIT STATUS. */
export const EXIT_OK = 0;
/** The command could not do its job (missing store, I/O, mount failure...). */
export const EXIT_FAILURE = 1;
/** The command line was wrong: unknown command or option, bad TID or argument. */
export const EXIT_USAGE = 2;
/** Stopped by a second SIGINT. */
export const EXIT_INTERRUPTED = 130;
export type ExitCode = number;

-- Nothing to undo: the flag had no effect on unix sockets.
SELECT 1;

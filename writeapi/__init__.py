"""Command API: validates commands at the edge and hands them to the command side."""

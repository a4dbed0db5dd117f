"""Pure domain code: calendar, durations, names, the planner. Never imports psycopg."""

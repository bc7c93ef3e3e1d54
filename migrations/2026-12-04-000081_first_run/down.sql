DROP TABLE first_run;

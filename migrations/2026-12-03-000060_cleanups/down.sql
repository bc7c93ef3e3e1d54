DROP TABLE cleanups;

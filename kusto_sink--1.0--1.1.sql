/* kusto_sink--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kusto_sink UPDATE TO '1.1'" to load this file. \quit

-- Version 1.0 is released and frozen; every change to the catalog and the
-- SQL functions of release 1.1 is here.  A fresh CREATE EXTENSION runs
-- kusto_sink--1.0.sql and then this script.

-------------------------------------------------------------------------------
-- [api] the SQL API: callers, ownership, validation in C
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [access] table privileges and sources that can never work
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [secrets] secrets that never appear in a statement
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [guard] dropping the extension while sinks exist
-------------------------------------------------------------------------------

-------------------------------------------------------------------------------
-- [worker] what the worker calls
-------------------------------------------------------------------------------

-- the workers of every sink restart on the new catalog
SELECT kusto_sink._notify_launcher();

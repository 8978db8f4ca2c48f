-- The recurring jobs run on Hangfire (schema "hangfire", installed by the start-up step), no longer on
-- Quartz.NET: its tables (qrtz_*, created in the public schema by the scheduler itself, not by a
-- migration) go. Whatever set of them a database has: none on a database Quartz never ran on.
DO $$
DECLARE
    quartz_table text;
BEGIN
    FOR quartz_table IN
        SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'qrtz\_%'
    LOOP
        EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', quartz_table);
    END LOOP;
END $$;

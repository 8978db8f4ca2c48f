using WsrHotline.Jobs;

namespace WsrHotline.Tests.Jobs;

public sealed class JobsOptionsTests
{
    [Theory]
    [InlineData("00:00:01", "*/1 * * * * *")]
    [InlineData("00:00:15", "*/15 * * * * *")]
    [InlineData("00:01:00", "0 */1 * * * *")]
    [InlineData("00:10:00", "0 */10 * * * *")]
    [InlineData("00:30:00", "0 */30 * * * *")]
    [InlineData("06:00:00", "0 0 */6 * * *")]
    [InlineData("1.00:00:00", "0 0 0 * * *")]
    public void An_interval_on_the_clock_s_boundaries_becomes_a_cron_expression(string interval, string cron) =>
        Assert.Equal(cron, JobsOptions.Cron(TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture)));

    [Theory]
    [InlineData("00:00:00")]
    [InlineData("00:00:00.500")]
    [InlineData("00:00:07")]
    [InlineData("00:07:00")]
    [InlineData("00:01:30")]
    [InlineData("05:00:00")]
    [InlineData("2.00:00:00")]
    public void An_interval_no_cron_expression_fires_at_evenly_is_refused(string interval) =>
        Assert.Null(JobsOptions.Cron(TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture)));
}

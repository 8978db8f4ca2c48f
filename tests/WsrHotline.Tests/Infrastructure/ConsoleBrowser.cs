using Microsoft.Playwright;
using Npgsql;

namespace WsrHotline.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium driven by Playwright, one per test class (Playwright's own browser download cannot
/// work here). Each console gets its own browser context, so each has its own cookies: two
/// investigators side by side.
/// </summary>
public sealed class ConsoleBrowser : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser has not started.");

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: `apt-get install chromium` (ops/test.sh installs it).");
        }
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            // Root in a container: Chromium's sandbox needs user namespaces it does not have here.
            Args = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }
        _playwright?.Dispose();
    }

    /// <summary>A staff member who can sign in with <paramref name="password"/>.</summary>
    public static Task<int> CreateStaffAsync(NpgsqlDataSource dataSource, string email, string role, string password, params string[] languages) =>
        StaffSession.CreateStaffAsync(dataSource, email, role, languages: languages, password: password);

    /// <summary>Signs in through the real form and waits until the console is live.</summary>
    public async Task<IPage> OpenConsoleAsync(string baseUrl, string email, string password, string? presence = "available")
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseUrl });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console");
        await page.GetByLabel("E-mail").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForSelectorAsync("body[data-ready=true]", new() { Timeout = 15_000 });
        if (presence is not null)
        {
            await page.GetByLabel("Status").SelectOptionAsync(presence);
            // The choice is saved through the hub; the presence event comes back to this console too.
            await page.WaitForFunctionAsync("() => document.querySelector('#colleagues')?.textContent?.includes('" + presence + "')");
        }
        return page;
    }
}

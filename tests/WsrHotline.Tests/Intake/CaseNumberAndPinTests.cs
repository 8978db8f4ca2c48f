using WsrHotline.Intake;

namespace WsrHotline.Tests.Intake;

public sealed class CaseNumberAndPinTests
{
    [Fact]
    public void Case_numbers_are_eight_digits_with_a_check_digit_that_catches_a_typo()
    {
        var numbers = Enumerable.Range(0, 1000).Select(_ => CaseNumbers.NewCaseNumber()).ToList();

        Assert.All(numbers, number =>
        {
            Assert.Matches("^[1-9][0-9]{7}$", number);
            Assert.True(CaseNumbers.IsWellFormed(number));
            var mistyped = number[..3] + (char)('0' + ((number[3] - '0' + 1) % 10)) + number[4..];
            Assert.False(CaseNumbers.IsWellFormed(mistyped));
        });
        Assert.True(numbers.Distinct().Count() > 990);
        Assert.False(CaseNumbers.IsWellFormed("1234"));
        Assert.False(CaseNumbers.IsWellFormed("abcdefgh"));
    }

    [Fact]
    public void A_pin_is_stored_only_as_a_salted_hash()
    {
        var pin = Pins.NewPin();
        var hash = Pins.Hash(pin);

        Assert.Matches("^[0-9]{4}$", pin);
        Assert.DoesNotContain(pin, hash.Split('$')[3], StringComparison.Ordinal);
        Assert.NotEqual(hash, Pins.Hash(pin));
        Assert.True(Pins.Verify(pin, hash));
        Assert.False(Pins.Verify(pin == "0000" ? "0001" : "0000", hash));
        Assert.False(Pins.Verify(pin, "garbage"));
    }
}

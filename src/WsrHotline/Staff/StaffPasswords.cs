using Microsoft.AspNetCore.Identity;

namespace WsrHotline.Staff;

/// <summary>A staff member as the password hasher sees them (it only needs a type to hang on).</summary>
public sealed record StaffMember(int Id, string Email);

/// <summary>Staff passwords, hashed with ASP.NET Core's <see cref="PasswordHasher{TUser}"/> (PBKDF2, versioned).</summary>
public static class StaffPasswords
{
    private static readonly PasswordHasher<StaffMember> Hasher = new();

    public static string Hash(StaffMember member, string password) => Hasher.HashPassword(member, password);

    public static PasswordVerificationResult Verify(StaffMember member, string hash, string password) =>
        Hasher.VerifyHashedPassword(member, hash, password);
}

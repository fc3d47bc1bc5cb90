<?php

declare(strict_types=1);

namespace Cachekit\Tests;

use Cachekit\Internal\Ffi;
use Cachekit\Internal\Header;
use PHPUnit\Framework\TestCase;

/** Loading the core: the generated header, the ABI check, settings from the environment. */
final class CoreLoadingTest extends TestCase
{
    private static function repo(): string
    {
        return \dirname(__DIR__, 3);
    }

    /** @return array<string, mixed> */
    private function load(array $env, string $ns = 'load'): array
    {
        [$code, $out] = Support::run([PHP_BINARY, __DIR__ . '/fixtures/load.php', $ns], $env + ['CACHEKIT_LIBRARY' => Support::library()]);
        $doc = json_decode(trim($out), true);
        $this->assertIsArray($doc, "unexpected output: {$out}");
        $this->assertSame(isset($doc['exception']) ? 3 : 0, $code);
        return $doc;
    }

    public function testThePhpHeaderIsDerivedFromTheCHeaderAndParses(): void
    {
        [$decls, $abi] = Header::fromC((string) file_get_contents(self::repo() . '/include/cachekit.h'));
        $this->assertSame(Ffi::ABI_VERSION, $abi);
        $this->assertDoesNotMatchRegularExpression('/^\s*#/m', $decls, 'no preprocessor lines');
        $this->assertDoesNotMatchRegularExpression('/uint8_t\s*\*/', $decls, 'byte buffers are char *');
        $this->assertStringNotContainsString('extern "C"', $decls);
        $this->assertStringContainsString('enum ck_status ck_fill_begin_borrowed(', $decls);
        $this->assertSame($decls, Ffi::declarations(), 'the header in use is the one derived from include/cachekit.h');
        $ffi = \FFI::cdef($decls, Support::library());
        $this->assertSame(Ffi::ABI_VERSION, $ffi->ck_abi_version());
    }

    public function testTheFpmPreloadSetupWorks(): void
    {
        [$code, $out, $err] = Support::run([PHP_BINARY, \dirname(__DIR__) . '/bin/gen-header.php']);
        $this->assertSame(0, $code, $err);
        $pkg = \dirname(__DIR__);
        [$code, $out, $err] = Support::run([
            PHP_BINARY,
            '-d', 'ffi.enable=preload',
            '-d', "ffi.preload={$pkg}/build/cachekit.preload.h",
            '-d', 'opcache.enable_cli=1',
            '-d', "opcache.preload={$pkg}/preload.php",
            '-d', 'opcache.preload_user=' . (posix_getpwuid(posix_geteuid())['name'] ?? 'root'),
            __DIR__ . '/fixtures/preload_check.php',
        ], ['CACHEKIT_LIBRARY' => '/nonexistent: the preloaded header names the library']);
        $this->assertSame(0, $code, $out . $err);
        $this->assertSame(['abi' => 1, 'value' => ['ok' => true], 'classes_preloaded' => true], json_decode(trim($out), true));
    }

    public function testALibraryOfAnotherAbiIsRefusedWithAClearMessage(): void
    {
        $dir = sys_get_temp_dir() . '/cachekit-php-abi-' . getmypid();
        @mkdir($dir);
        file_put_contents("{$dir}/fake.c", "unsigned int ck_abi_version(void) { return 999; }\n");
        [$code, , $err] = Support::run(['cc', '-shared', '-fPIC', '-o', "{$dir}/libfake.so", "{$dir}/fake.c"]);
        $this->assertSame(0, $code, "cannot build the fake library: {$err}");
        $doc = $this->load(['CACHEKIT_LIBRARY' => "{$dir}/libfake.so"]);
        $this->assertSame(\Cachekit\Exception\LibraryException::class, $doc['exception']);
        $this->assertStringContainsString('ABI version 999', $doc['message']);
        $this->assertStringContainsString('needs ABI version 1', $doc['message']);
    }

    public function testAMissingLibraryIsReportedWithWhatToDo(): void
    {
        $doc = $this->load(['CACHEKIT_LIBRARY' => '/nonexistent/libcachekit.so']);
        $this->assertSame(\Cachekit\Exception\LibraryException::class, $doc['exception']);
        $this->assertStringContainsString('/nonexistent/libcachekit.so', $doc['message']);
        $this->assertStringContainsString('cargo build --lib', $doc['message']);
    }

    public function testSettingsComeFromTheCachekitEnvironment(): void
    {
        $ns = Support::ns('env');
        $doc = $this->load(['CACHEKIT_REDIS_URL' => Support::redisUrl(), 'CACHEKIT_DEFAULT_TTL' => '123'], $ns);
        $this->assertSame(['backend' => 'redis', 'default_ttl' => 123, 'ttl' => 123, 'value' => 'v'], $doc);
        $this->assertSame(1, Support::redis()->exists((new \Cachekit\Cache($ns, [], Support::client()))->redisKey('k')), 'the child wrote to Redis');
    }

    public function testWithoutARedisUrlTheCoreIsL1Only(): void
    {
        $doc = $this->load(['CACHEKIT_REDIS_URL' => '', 'REDIS_URL' => '']);
        $this->assertSame('none', $doc['backend']);
        $this->assertSame('v', $doc['value']);
    }

    public function testABadEnvironmentValueIsAConfigurationError(): void
    {
        $doc = $this->load(['CACHEKIT_DEFAULT_TTL' => 'soon']);
        $this->assertSame(\Cachekit\Exception\ConfigurationException::class, $doc['exception']);
        $this->assertStringContainsString('CACHEKIT_DEFAULT_TTL', $doc['message']);
    }

    public function testAnUnknownOptionIsAConfigurationError(): void
    {
        $this->expectException(\Cachekit\Exception\ConfigurationException::class);
        $this->expectExceptionMessageMatches('/tll/');
        Support::cache('opt', ['tll' => 60]);
    }
}

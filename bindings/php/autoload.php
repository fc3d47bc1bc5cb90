<?php

declare(strict_types=1);

// Autoloader for use without Composer (Debian packages provide PHP libraries
// under /usr/share/php without one). With Composer, composer.json's PSR-4
// entry does the same and psr/simple-cache comes from vendor/.

spl_autoload_register(static function (string $class): void {
    if (strncmp($class, 'Cachekit\\', 9) === 0) {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, 9)) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

if (!interface_exists(\Psr\SimpleCache\CacheInterface::class)) {
    // Debian's php-psr-simple-cache; the autoloader it ships registers itself.
    foreach (explode(PATH_SEPARATOR, (string) get_include_path()) + ['/usr/share/php'] as $dir) {
        if (is_file($dir . '/Psr/SimpleCache/autoload.php')) {
            require_once $dir . '/Psr/SimpleCache/autoload.php';
            break;
        }
    }
    if (!interface_exists(\Psr\SimpleCache\CacheInterface::class)) {
        // Fall back to /usr/share/php explicitly (it may not be on the include path).
        if (is_file('/usr/share/php/Psr/SimpleCache/autoload.php')) {
            require_once '/usr/share/php/Psr/SimpleCache/autoload.php';
        }
    }
}

// The device-check page: pick camera and microphone, see and hear them before a lesson.
import { boot, renderHeader, clear, h } from './ui.js';
import { t } from './i18n.js';
import { DeviceCheck } from './devices.js';

const main = document.getElementById('main');
let check = null;

boot(async () => {
  renderHeader({ titleKey: 'page.devices' });
  if (check) check.stop();
  check = new DeviceCheck();
  clear(main).append(h('div', { class: 'narrow', style: 'max-width: 640px' },
    h('p', { class: 'muted' }, t('devices.intro')), check.render()));
  window.tongbu = { check };
  await check.start();
});
